// The host's identity map of physical memory.
#ifndef MPVISOR_PAGING_H
#define MPVISOR_PAGING_H
#include <stdint.h>
void paging_init(uint32_t mbi);
uint64_t paging_identity_limit(void);   // first address not mapped
int paging_uses_1g(void);
#endif
