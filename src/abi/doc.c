/*
 * Guest-ABI JSON documents, with jansson. Every value is checked where it
 * enters: unknown keys, registers, features, malformed masks and values that
 * do not fit their field are errors that name the offending key.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi/doc.h"

const char *abi_doc_kind_name(enum abi_doc_kind kind)
{
	switch (kind) {
	case ABI_DOC_MANIFEST:
		return "manifest";
	case ABI_DOC_FINGERPRINT:
		return "fingerprint";
	case ABI_DOC_TEMPLATE:
		return "template";
	}
	return "?";
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "0x..." (or decimal) into a register value that must fit @width bits. */
static int parse_reg_value(const char *s, uint8_t width, uint64_t *out)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	if (width < 64 && (*out >> width))
		return -ERANGE;
	return 0;
}

/* Tri-state mask, most significant bit first: '1' set, '0' clear, 'x' keep; '_' and ' ' separate. */
static int parse_tristate(const char *s, uint8_t width, uint64_t *set, uint64_t *clear)
{
	unsigned n = 0;

	*set = *clear = 0;
	for (; *s; s++) {
		if (*s == '_' || *s == ' ')
			continue;
		if (n == width)
			return -ERANGE;
		*set <<= 1;
		*clear <<= 1;
		if (*s == '1')
			*set |= 1;
		else if (*s == '0')
			*clear |= 1;
		else if (*s != 'x' && *s != 'X')
			return -EINVAL;
		n++;
	}
	return n == width ? 0 : -ERANGE;
}

static int parse_host(json_t *host, struct abi_host_info *info, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		size_t off, len;
	} keys[] = {
		{ "hostname", offsetof(struct abi_host_info, hostname), sizeof(info->hostname) },
		{ "kernel", offsetof(struct abi_host_info, kernel), sizeof(info->kernel) },
		{ "cpu", offsetof(struct abi_host_info, cpu), sizeof(info->cpu) },
		{ "bothy", offsetof(struct abi_host_info, bothy), sizeof(info->bothy) },
	};
	const char *key;
	json_t *val;

	if (!json_is_object(host))
		return fail(err, errlen, "\"host\" must be an object");
	json_object_foreach(host, key, val) {
		size_t i;

		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i].key))
				break;
		if (i == sizeof(keys) / sizeof(keys[0]))
			return fail(err, errlen, "\"host\": unknown key \"%s\"", key);
		if (!json_is_string(val))
			return fail(err, errlen, "\"host.%s\" must be a string", key);
		snprintf((char *)info + keys[i].off, keys[i].len, "%s", json_string_value(val));
	}
	return 0;
}

static int parse_registers(json_t *regs, struct abi_doc *doc, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(regs))
		return fail(err, errlen, "\"registers\" must be an object");
	json_object_foreach(regs, key, val) {
		int reg = abi_find_reg(doc->arch, key);
		const char *s = json_string_value(val);
		uint8_t width;
		int ret;

		if (reg < 0)
			return fail(err, errlen, "unknown %s register \"%s\"", doc->arch->name, key);
		if (!s)
			return fail(err, errlen, "register %s: value must be a string", key);
		width = doc->arch->regs[reg].width;
		if (doc->kind == ABI_DOC_TEMPLATE && !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
			ret = parse_tristate(s, width, &doc->set[reg], &doc->clear[reg]);
			if (ret)
				return fail(err, errlen,
					    "register %s: \"%s\" is not a %u-character mask of 0, 1 and x", key, s,
					    width);
			continue;
		}
		uint64_t v;
		ret = parse_reg_value(s, width, &v);
		if (ret)
			return fail(err, errlen, "register %s: \"%s\" is not a %u-bit value", key, s, width);
		if (doc->kind == ABI_DOC_TEMPLATE) {
			uint64_t all = width >= 64 ? ~0ull : (1ull << width) - 1;
			doc->set[reg] = v;
			doc->clear[reg] = all & ~v;
		} else {
			doc->m.val[reg] = v;
			doc->m.present[reg] = true;
		}
	}
	return 0;
}

/* A fingerprint's writable masks: which bits of each register the host lets a VMM change. */
static int parse_writable(json_t *masks, struct abi_doc *doc, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(masks))
		return fail(err, errlen, "\"writable\" must be an object");
	json_object_foreach(masks, key, val) {
		int reg = abi_find_reg(doc->arch, key);
		const char *s = json_string_value(val);
		uint8_t width;

		if (reg < 0)
			return fail(err, errlen, "writable: unknown %s register \"%s\"", doc->arch->name, key);
		width = doc->arch->regs[reg].width;
		if (!s || parse_reg_value(s, width, &doc->m.writable[reg]))
			return fail(err, errlen, "writable %s: expected a %u-bit value as a string", key, width);
		doc->m.writable_known[reg] = true;
	}
	return 0;
}

static int parse_features(json_t *feats, struct abi_doc *doc, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(feats))
		return fail(err, errlen, "\"features\" must be an object");
	json_object_foreach(feats, key, val) {
		int fi = abi_find_field(doc->arch, key);
		const struct abi_field *f;
		int64_t lo, hi, v;

		if (fi < 0)
			return fail(err, errlen, "unknown or ambiguous %s feature \"%s\"", doc->arch->name, key);
		f = &doc->arch->fields[fi];
		if (f->flags & ABI_F_VMM)
			return fail(err, errlen, "feature \"%s\" is set by bothy per vCPU, not by a template", key);
		if (f->is_signed) {
			lo = f->width >= 64 ? INT64_MIN : -(1ll << (f->width - 1));
			hi = f->width >= 64 ? INT64_MAX : (1ll << (f->width - 1)) - 1;
		} else {
			lo = 0;
			hi = f->width >= 63 ? INT64_MAX : (1ll << f->width) - 1;
		}
		if (json_is_boolean(val) && f->width == 1)
			v = json_is_true(val);
		else if (json_is_integer(val))
			v = json_integer_value(val);
		else
			return fail(err, errlen, "feature \"%s\": expected %s", key,
				    f->width == 1 ? "true or false" : "an integer");
		if (v < lo || v > hi)
			return fail(err, errlen, "feature \"%s\": %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]",
				    key, v, lo, hi);
		if (doc->nfeat == ABI_MAX_FEATURES)
			return fail(err, errlen, "too many features (at most %d)", ABI_MAX_FEATURES);
		doc->feat[doc->nfeat].field = fi;
		doc->feat[doc->nfeat].value = (uint64_t)v;
		doc->nfeat++;
	}
	return 0;
}

static int parse_root(json_t *root, struct abi_doc *doc, char *err, size_t errlen)
{
	const char *format = json_string_value(json_object_get(root, "format"));
	const char *kind = json_string_value(json_object_get(root, "kind"));
	const char *arch = json_string_value(json_object_get(root, "arch"));
	const char *key;
	json_t *val;
	int ret;

	if (!json_is_object(root))
		return fail(err, errlen, "a guest-ABI document is a JSON object");
	if (!format || strcmp(format, ABI_FORMAT))
		return fail(err, errlen, "\"format\" must be \"%s\"", ABI_FORMAT);
	if (!kind)
		return fail(err, errlen, "\"kind\" is missing");
	if (!strcmp(kind, "manifest"))
		doc->kind = ABI_DOC_MANIFEST;
	else if (!strcmp(kind, "fingerprint"))
		doc->kind = ABI_DOC_FINGERPRINT;
	else if (!strcmp(kind, "template"))
		doc->kind = ABI_DOC_TEMPLATE;
	else
		return fail(err, errlen, "\"kind\" must be manifest, fingerprint or template");
	doc->arch = arch ? abi_arch_by_name(arch) : NULL;
	if (!doc->arch)
		return fail(err, errlen, "\"arch\" must be x86_64, aarch64 or riscv64");
	abi_manifest_init(&doc->m, doc->arch);

	json_object_foreach(root, key, val) {
		if (!strcmp(key, "format") || !strcmp(key, "kind") || !strcmp(key, "arch") ||
		    !strcmp(key, "comment") || !strcmp(key, "baseline-of"))
			continue;
		if (!strcmp(key, "registers"))
			ret = parse_registers(val, doc, err, errlen);
		else if (!strcmp(key, "features") && doc->kind == ABI_DOC_TEMPLATE)
			ret = parse_features(val, doc, err, errlen);
		else if (!strcmp(key, "host") && doc->kind == ABI_DOC_FINGERPRINT)
			ret = parse_host(val, &doc->host, err, errlen);
		else if (!strcmp(key, "writable") && doc->kind == ABI_DOC_FINGERPRINT)
			ret = parse_writable(val, doc, err, errlen);
		else
			ret = fail(err, errlen, "unexpected key \"%s\" in a %s", key, kind);
		if (ret)
			return ret;
	}
	return 0;
}

int abi_doc_parse(const char *text, struct abi_doc *doc, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int ret;

	memset(doc, 0, sizeof(*doc));
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
	ret = parse_root(root, doc, err, errlen);
	json_decref(root);
	return ret;
}

void abi_doc_apply(const struct abi_doc *doc, const struct abi_manifest *limit, struct abi_manifest *out)
{
	if (doc->kind != ABI_DOC_TEMPLATE) {
		*out = doc->m;
		return;
	}
	*out = *limit;
	out->frozen = false;
	for (size_t reg = 0; reg < doc->arch->nregs; reg++) {
		if (!(doc->set[reg] | doc->clear[reg]))
			continue;
		out->val[reg] = (out->val[reg] & ~doc->clear[reg]) | doc->set[reg];
		out->present[reg] = true;
	}
	for (size_t i = 0; i < doc->nfeat; i++) {
		const struct abi_field *f = &doc->arch->fields[doc->feat[i].field];

		out->val[f->reg] = abi_field_put(f, out->val[f->reg], doc->feat[i].value);
		out->present[f->reg] = true;
	}
}

/* "0x..." for a register value, "0x0" for zero. */
static void format_reg(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "%#" PRIx64, v);
	if (!v)
		snprintf(buf, len, "0x0");
}

char *abi_doc_write(const struct abi_manifest *m, const struct abi_host_info *host)
{
	json_t *root = json_object(), *regs = json_object(), *masks = json_object();
	char *text = NULL;

	if (!root || !regs || !masks)
		goto out;
	json_object_set_new(root, "format", json_string(ABI_FORMAT));
	json_object_set_new(root, "kind", json_string(host ? "fingerprint" : "manifest"));
	json_object_set_new(root, "arch", json_string(m->arch->name));
	if (host) {
		json_t *h = json_pack("{s:s, s:s, s:s, s:s}", "hostname", host->hostname, "kernel", host->kernel,
				      "cpu", host->cpu, "bothy", host->bothy);
		if (!h)
			goto out;
		json_object_set_new(root, "host", h);
	}
	for (size_t reg = 0; reg < m->arch->nregs; reg++) {
		char v[24];

		if (m->present[reg]) {
			format_reg(v, sizeof(v), m->val[reg]);
			json_object_set_new(regs, m->arch->regs[reg].name, json_string(v));
		}
		/* A fingerprint says what its host lets a VMM change; a manifest has no host. */
		if (host && m->writable_known[reg]) {
			format_reg(v, sizeof(v), m->writable[reg]);
			json_object_set_new(masks, m->arch->regs[reg].name, json_string(v));
		}
	}
	json_object_set(root, "registers", regs);
	if (json_object_size(masks))
		json_object_set(root, "writable", masks);
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(masks);
	json_decref(regs);
	json_decref(root);
	return text;
}
