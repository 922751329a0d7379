// Descriptor tables and the legacy PIC: set up once at boot.
#ifndef MPVISOR_CPU_TABLES_H
#define MPVISOR_CPU_TABLES_H
#include <stdint.h>
#define SEL_CODE64 0x08   // boot/entry.asm's GDT
#define SEL_DATA   0x10
#define SEL_TSS    0x18
#define PIC_VECTOR_BASE 32
#define IRQ_COM1 4
void cpu_tables_init(void);
void pic_eoi(int irq);
int pic_spurious(int irq);
#endif
