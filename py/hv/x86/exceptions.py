# Exception vectors 0-31 and which of them push an error code: the rule
# both vCPU back ends follow when they inject one (hardware facts, no
# policy). Pure; runs on the bare-metal port and on CPython (host tests).
from micropython import const

VEC_DF = const(8)
VEC_GP = const(13)
MAX_EXCEPTION = const(31)               # 32-255 are interrupts, not exceptions

# Vectors that push an error code, as bit masks. Intel (SDM 3A 6.3.1, Table
# 6-1): #DF 8, #TS 10, #NP 11, #SS 12, #GP 13, #PF 14, #AC 17, #CP 21; VM
# entry refuses the deliver-error-code bit for any other (SDM 3C 27.2.1.3).
# AMD (APM2 8.2, Table 8-1) adds #VC 29 and #SX 30, which exist only there.
INTEL_ERROR_CODE_VECTORS = const(1 << 8 | 0x7C00 | 1 << 17 | 1 << 21)
AMD_ERROR_CODE_VECTORS = const(INTEL_ERROR_CODE_VECTORS | 1 << 29 | 1 << 30)


def pushes_error_code(vector, protected_mode, vectors=INTEL_ERROR_CODE_VECTORS):
    """Whether delivering exception `vector` pushes an error code: only the
    vectors in the mask `vectors`, and only in protected mode (CR0.PE = 1,
    long mode included): real-mode delivery pushes FLAGS, CS and IP only
    (SDM 3A 21.1.4, APM2 8.6; VMX checks it, SDM 3C 27.2.1.3)."""
    if not 0 <= vector <= MAX_EXCEPTION:
        raise ValueError("exception vector %d outside 0-31" % vector)
    return bool(protected_mode and vectors >> vector & 1)
