// Identity map of all RAM the multiboot memory map reports (at least the
// first 4 GiB, for MMIO such as the local APIC), replacing the boot tables.
// 1 GiB pages where CPUID Fn8000_0001 EDX[26] offers them, 2 MiB otherwise
// (SDM 3A 4.5, Tables 4-15 and 4-17). One PML4 entry: at most 512 GiB.
// Physical page 0 is left unmapped so a NULL dereference faults (#PF)
// instead of reading the real-mode IVT; the rest of the first 2 MiB uses
// 4 KiB pages for that. Runs in 64-bit ring 0 at boot.
#include <stdint.h>
#include "cpu.h"
#include "paging.h"
#include "platform.h"

#define PTE_PRESENT  (1ull << 0)
#define PTE_WRITABLE (1ull << 1)
#define PTE_HUGE     (1ull << 7)
#define GIB          (1ull << 30)
#define MAX_GIB_1G   512            // one PDPT
#define MAX_GIB_2M   64             // page directories in pd_pool

#define MBI_FLAG_MEM  (1u << 0)
#define MBI_FLAG_MMAP (1u << 6)
#define MMAP_AVAILABLE 1
#define MMAP_ACPI_RECLAIMABLE 3
#define MMAP_ACPI_NVS 4

struct __attribute__((packed)) mbi_mmap_entry {  // Multiboot 0.6.96, 3.3
    uint32_t size;
    uint64_t addr;
    uint64_t len;
    uint32_t type;
};

static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd_pool[MAX_GIB_2M][512] __attribute__((aligned(4096)));
static uint64_t low_pd[512] __attribute__((aligned(4096)));   // first GiB with 1 GiB pages
static uint64_t low_pt[512] __attribute__((aligned(4096)));   // first 2 MiB, page 0 absent
static uint64_t identity_limit;
static int use_1g;

// Highest end of RAM-like memory (available or ACPI) in the memory map.
static uint64_t ram_top(uint32_t mbi) {
    const uint32_t *info = (const uint32_t *)(uintptr_t)mbi;
    uint32_t flags = info[0];
    uint64_t top = 0;
    if (flags & MBI_FLAG_MMAP) {
        uintptr_t p = info[12], end = p + info[11];
        while (p < end) {
            const struct mbi_mmap_entry *e = (const void *)p;
            if (e->type == MMAP_AVAILABLE || e->type == MMAP_ACPI_RECLAIMABLE
                || e->type == MMAP_ACPI_NVS) {
                if (e->addr + e->len > top) {
                    top = e->addr + e->len;
                }
            }
            p += e->size + 4;
        }
    } else if (flags & MBI_FLAG_MEM) {
        top = 0x100000 + (uint64_t)info[2] * 1024;
    }
    return top;
}

void paging_init(uint32_t mbi) {
    uint32_t r[4];
    cpuid(0x80000001, 0, r);
    use_1g = (r[3] >> 26) & 1;
    uint64_t top = ram_top(mbi);
    uint64_t gib = (top + GIB - 1) / GIB;
    uint64_t max = use_1g ? MAX_GIB_1G : MAX_GIB_2M;
    if (gib < 4) {
        gib = 4;
    }
    if (gib > max) {
        kprintf("mpvisor: RAM above %lu GiB is not mapped and not used\r\n", max);
        gib = max;
    }
    for (uint64_t g = 0; g < gib; g++) {
        if (use_1g) {
            pdpt[g] = (g * GIB) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE;
        } else {
            for (uint64_t i = 0; i < 512; i++) {
                pd_pool[g][i] = (g * GIB + (i << 21)) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE;
            }
            pdpt[g] = (uint64_t)pd_pool[g] | PTE_PRESENT | PTE_WRITABLE;
        }
    }
    // Split the first 2 MiB into 4 KiB pages, leaving page 0 not present.
    for (uint64_t i = 1; i < 512; i++) {
        low_pt[i] = (i << 12) | PTE_PRESENT | PTE_WRITABLE;
    }
    uint64_t *pd0 = pd_pool[0];
    if (use_1g) {
        for (uint64_t i = 0; i < 512; i++) {
            low_pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE;
        }
        pd0 = low_pd;
        pdpt[0] = (uint64_t)low_pd | PTE_PRESENT | PTE_WRITABLE;
    }
    pd0[0] = (uint64_t)low_pt | PTE_PRESENT | PTE_WRITABLE;
    pml4[0] = (uint64_t)pdpt | PTE_PRESENT | PTE_WRITABLE;
    write_cr3((uint64_t)pml4);
    identity_limit = gib * GIB;
}

uint64_t paging_identity_limit(void) {
    return identity_limit;
}

int paging_uses_1g(void) {
    return use_1g;
}
