/* The riscv64 guest-ABI tables (riscv64.def). */
#include "abi/abi.h"
#include "abi/riscv64.h"

#define ABI_ARCH riscv64
#define ABI_DEF "abi/riscv64.def"
#include "abi/table.h"
