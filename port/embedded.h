// The py/ tree embedded in the image (port/embedded.c).
#ifndef MPVISOR_EMBEDDED_H
#define MPVISOR_EMBEDDED_H
void embedded_run_main(void);
#endif
