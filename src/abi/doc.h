/*
 * Guest-ABI documents in JSON (docs/guest-abi.md): manifests, host
 * fingerprints (a manifest of a host's limit plus its identity) and templates
 * (tri-state register masks and named features applied to a host limit).
 * Parsing works on strings; callers read the files.
 */
#ifndef BOTHY_ABI_DOC_H
#define BOTHY_ABI_DOC_H

#include "abi/abi.h"

#define ABI_FORMAT "bothy-abi/1"

enum abi_doc_kind { ABI_DOC_MANIFEST, ABI_DOC_FINGERPRINT, ABI_DOC_TEMPLATE };

struct abi_host_info {
	char hostname[64];
	char kernel[96];
	char cpu[96];
	char bothy[48];
};

#define ABI_MAX_FEATURES 128

struct abi_doc {
	enum abi_doc_kind kind;
	const struct abi_arch *arch;
	struct abi_manifest m;	   /* manifest, fingerprint: the values */
	struct abi_host_info host; /* fingerprint */
	/* template: bits forced to 1 / to 0 per register, then named fields */
	uint64_t set[ABI_MAX_REGS], clear[ABI_MAX_REGS];
	size_t nfeat;
	struct {
		int field;
		uint64_t value;
	} feat[ABI_MAX_FEATURES];
};

const char *abi_doc_kind_name(enum abi_doc_kind kind);

/* Parse a document; on error returns -EINVAL with a one-line reason in @err. */
int abi_doc_parse(const char *text, struct abi_doc *doc, char *err, size_t errlen);

/*
 * The manifest a document asks for on a host with @limit: a template applied
 * to the limit, or a manifest/fingerprint as it is. Not validated here: call
 * abi_check() on the result.
 */
void abi_doc_apply(const struct abi_doc *doc, const struct abi_manifest *limit, struct abi_manifest *out);

/* Serialise a manifest (host == NULL) or a fingerprint; malloc'd, NUL-terminated, or NULL. */
char *abi_doc_write(const struct abi_manifest *m, const struct abi_host_info *host);

#endif
