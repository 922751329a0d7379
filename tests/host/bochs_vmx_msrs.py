"""MSR values read on Bochs 2.7, cpu: model=corei7_skylake_x (IA32_FEATURE_CONTROL,
the VMX capability MSRs of SDM App. A, and the host MSRs the VMCS host state
copies). Plain data: the host fakes (vmx_fakes.py) use it and
tests/target/test_vmx_bochs.py checks it against the emulator."""

BOCHS_MSRS = {
    0x3A: 0x5,                          # IA32_FEATURE_CONTROL: locked, VMX on
    0x480: 0xD810000000002B,            # IA32_VMX_BASIC: revision 0x2B, TRUE controls
    0x481: 0x7F00000016, 0x482: 0xF7F9FFFE0401E172, 0x483: 0x7FFFFF00036DFF,
    0x484: 0xFFFF000011FF, 0x485: 0x600401E0, 0x486: 0x80000021, 0x487: 0xFFFFFFFF,
    0x488: 0x2000, 0x489: 0x3727FF, 0x48B: 0x2177FFF00000000, 0x48C: 0xF0106334141,
    0x48D: 0x7F00000016, 0x48E: 0xF7F9FFFE04006172, 0x48F: 0x7FFFFF00036DFB,
    0x490: 0xFFFF000011FB,
    0xC0000080: 0x500, 0x277: 0x0007040600070406, 0xC0000100: 0x178EA0, 0xC0000101: 0,
    0x174: 0, 0x175: 0, 0x176: 0, 0xC0000081: 0, 0xC0000082: 0, 0xC0000083: 0,
    0xC0000084: 0x20200, 0xC0000102: 0,
}
