// GDT task-state segment, IDT for exceptions and PIC IRQs, and the legacy
// 8259 PIC remapped above the exception vectors. Runs in 64-bit ring 0 at boot.
#include <stdint.h>
#include "cpu.h"
#include "cpu_tables.h"

#define NUM_VECTORS 48
#define IST_CRITICAL 1          // own stack for #DF, NMI and #MC (SDM 3A 6.14.5)

struct __attribute__((packed)) tss64 {     // SDM 3A 8.7, Figure 8-11
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

struct __attribute__((packed)) idt_gate {  // SDM 3A 6.14.1, Figure 6-8
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

extern uint64_t boot_gdt[];
extern const uint64_t trap_vectors[NUM_VECTORS];

static struct tss64 tss;
static struct idt_gate idt[256] __attribute__((aligned(16)));
static uint8_t critical_stack[16384] __attribute__((aligned(16)));

static void tss_init(void) {
    uint64_t base = (uint64_t)&tss;
    uint64_t limit = sizeof(tss) - 1;
    tss.ist[IST_CRITICAL - 1] = (uint64_t)(critical_stack + sizeof(critical_stack));
    tss.iomap_base = sizeof(tss);           // no I/O permission bitmap
    // 64-bit TSS descriptor, type 9 (available), present (SDM 3A 8.2.3).
    boot_gdt[SEL_TSS / 8] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16)
        | (0x89ull << 40) | (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    boot_gdt[SEL_TSS / 8 + 1] = base >> 32;
    __asm__ volatile ("ltr %w0" : : "r" (SEL_TSS));
}

static void idt_init(void) {
    for (int v = 0; v < NUM_VECTORS; v++) {
        uint64_t addr = trap_vectors[v];
        idt[v].offset_low = addr & 0xFFFF;
        idt[v].selector = SEL_CODE64;
        idt[v].ist = (v == 2 || v == 8 || v == 18) ? IST_CRITICAL : 0;
        idt[v].type_attr = 0x8E;            // present, DPL 0, 64-bit interrupt gate
        idt[v].offset_mid = (addr >> 16) & 0xFFFF;
        idt[v].offset_high = addr >> 32;
    }
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr = {
        sizeof(idt) - 1, (uint64_t)idt
    };
    __asm__ volatile ("lidt %0" : : "m" (idtr));
}

// 8259A: ICW1-ICW4 remap IRQ 0-15 to vectors 32-47; only COM1 is unmasked.
static void pic_init(void) {
    outb(0x20, 0x11);
    outb(0xA0, 0x11);
    outb(0x21, PIC_VECTOR_BASE);
    outb(0xA1, PIC_VECTOR_BASE + 8);
    outb(0x21, 0x04);                       // slave on IRQ 2
    outb(0xA1, 0x02);
    outb(0x21, 0x01);                       // 8086 mode
    outb(0xA1, 0x01);
    outb(0x21, (uint8_t)~(1 << IRQ_COM1));
    outb(0xA1, 0xFF);
}

// A spurious IRQ 7/15 has no bit in the in-service register (8259A datasheet).
int pic_spurious(int irq) {
    if (irq != 7 && irq != 15) {
        return 0;
    }
    uint16_t cmd = irq == 7 ? 0x20 : 0xA0;
    outb(cmd, 0x0B);                        // OCW3: read ISR
    if (inb(cmd) & 0x80) {
        return 0;
    }
    if (irq == 15) {
        outb(0x20, 0x20);                   // the master did see the cascade
    }
    return 1;
}

void pic_eoi(int irq) {
    if (irq >= 8) {
        outb(0xA0, 0x20);
    }
    outb(0x20, 0x20);
}

void cpu_tables_init(void) {
    tss_init();
    idt_init();
    pic_init();
}
