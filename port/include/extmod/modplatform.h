// py/modsys.c includes extmod/modplatform.h unconditionally; extmod/ is not
// part of the MicroPython sdist we build from, so this port supplies the
// one definition it needs.
#define MICROPY_PLATFORM_COMPILER "gcc " __VERSION__
