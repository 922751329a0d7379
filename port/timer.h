// TSC frequency, calibrated against the PIT at boot.
#ifndef MPVISOR_TIMER_H
#define MPVISOR_TIMER_H
#include <stdint.h>
void timer_calibrate(void);
uint64_t timer_tsc_hz(void);
#endif
