# Nested paging: the guest-physical -> host-physical builder with its AMD NPT
# and Intel EPT entry formats. Bare metal and CPython (fake allocator).
