/* The x86-64 guest-ABI tables (x86_64.def). */
#include "abi/abi.h"
#include "abi/x86_64.h"

#define ABI_ARCH x86_64
#define ABI_DEF "abi/x86_64.def"
#include "abi/table.h"
