/* The aarch64 guest-ABI tables (aarch64.def). */
#include "abi/abi.h"
#include "abi/aarch64.h"

#define ABI_ARCH aarch64
#define ABI_DEF "abi/aarch64.def"
#include "abi/table.h"
