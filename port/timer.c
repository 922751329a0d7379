// Time for MicroPython: the TSC, calibrated once against PIT channel 2
// (8254 datasheet, mode 0; gate and output on port 0x61). Runs in ring 0.
#include <stdint.h>
#include "py/mpconfig.h"
#include "mphalport.h"
#include "cpu.h"
#include "timer.h"

#define PIT_HZ 1193182u
#define CALIBRATE_TICKS (PIT_HZ / 100)     // 10 ms

static uint64_t tsc_hz = 1000000000ull;   // replaced by timer_calibrate

void timer_calibrate(void) {
    uint8_t gate = inb(0x61);
    outb(0x61, (gate & ~0x03) | 0x00);    // gate low, speaker off
    outb(0x43, 0xB0);                      // channel 2, lo/hi byte, mode 0, binary
    outb(0x42, CALIBRATE_TICKS & 0xFF);
    outb(0x42, CALIBRATE_TICKS >> 8);
    outb(0x61, (gate & ~0x02) | 0x01);     // gate high: counting starts
    uint64_t t0 = rdtsc();
    while (!(inb(0x61) & 0x20)) {          // OUT2 goes high at terminal count
    }
    uint64_t t1 = rdtsc();
    outb(0x61, gate);
    if (t1 > t0) {
        tsc_hz = (t1 - t0) * 100;
    }
}

uint64_t timer_tsc_hz(void) {
    return tsc_hz;
}

mp_uint_t mp_hal_ticks_ms(void) {
    return rdtsc() / (tsc_hz / 1000);
}

mp_uint_t mp_hal_ticks_us(void) {
    return rdtsc() / (tsc_hz / 1000000);
}

void mp_hal_delay_us(mp_uint_t us) {
    uint64_t end = rdtsc() + us * (tsc_hz / 1000000);
    while (rdtsc() < end) {
    }
}

void mp_hal_delay_ms(mp_uint_t ms) {
    mp_hal_delay_us(ms * 1000);
}
