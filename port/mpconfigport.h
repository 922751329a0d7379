// MicroPython configuration for mpvisor: bare-metal x86_64, ring 0.
// A feature level first, then single overrides, one commented line each.
#include <stdint.h>
#include <alloca.h>

#define MICROPY_CONFIG_ROM_LEVEL                (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// Integers and floats: register values are 64-bit unsigned, so MPZ.
#define MICROPY_LONGINT_IMPL                    (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_FLOAT_IMPL                      (MICROPY_FLOAT_IMPL_DOUBLE)

// Compiler, REPL and the native emitter (SSE is on, see boot/entry.asm).
#define MICROPY_ENABLE_COMPILER                 (1)
#define MICROPY_EMIT_X64                        (1)
#define MICROPY_HELPER_REPL                     (1)
#define MICROPY_REPL_AUTO_INDENT                (1)
#define MICROPY_KBD_EXCEPTION                   (1)
#define MICROPY_ENABLE_SCHEDULER                (1)

// Memory: a GC heap in the kernel image, scanned with the generic helper.
#define MICROPY_ENABLE_GC                       (1)
#define MICROPY_GCREGS_SETJMP                   (0)
#define MICROPY_STACK_CHECK                     (1)
#define MICROPY_ALLOC_PATH_MAX                  (256)

// No filesystem: the py/ tree is embedded (port/embedded.c) and served to
// import through the file-reader hooks, as .mpy bytecode or .py source.
#define MICROPY_HAS_FILE_READER                 (1)
#define MICROPY_READER_VFS                      (0)
#define MICROPY_VFS                             (0)
#define MICROPY_PERSISTENT_CODE_LOAD            (1)
// The embedded .mpy files' bytecode, qstrs and str/bytes constants are used
// in place in the image (py/persistentcode.c's ROM-reader path: the reader is
// MP_READER_IS_ROM), not copied into the GC heap. The heap scan is
// conservative: a copied bytecode's tail (`... ef 63` and zero padding)
// reads as a pointer to 0x63ef00 and pinned a closed VM's objects there.
// No romfs to mount, so no rom_ioctl (it needs extmod/).
#define MICROPY_VFS_ROM                         (1)
#define MICROPY_VFS_ROM_IOCTL                   (0)

// Modules that need extmod/ or an OS are not in the sdist: off.
#define MICROPY_PY_OS                           (0)
#define MICROPY_PY_TIME                         (0)
#define MICROPY_PY_SELECT                       (0)
#define MICROPY_PY_MACHINE                      (0)
#define MICROPY_PY_UCTYPES                      (0)
#define MICROPY_PY_SYS_STDFILES                 (1)
#define MICROPY_PY_SYS_STDIO_BUFFER             (1)     // sys.stdout.buffer: a guest's console bytes as they are
#define MICROPY_PY_SYS_PLATFORM                 "mpvisor"
#define MICROPY_PY_SYS_EXIT                     (1)
#define MICROPY_PY_IO_IOBASE                    (1)     // io.IOBase: Python classes as streams
#define MICROPY_PY_BUILTINS_HELP                (1)
#define MICROPY_PY_BUILTINS_HELP_MODULES        (1)
#define MICROPY_PY_BUILTINS_HELP_TEXT           mpvisor_help_text   // port/help.c: where to start
#define MICROPY_PY_MICROPYTHON_MEM_INFO         (1)

// What the unix port (same level) adds that costs little here; README
// "MicroPython features" has the sizes and what stays off.
#define MICROPY_ERROR_REPORTING                 (MICROPY_ERROR_REPORTING_DETAILED)  // names in messages
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF  (1)     // message, traceback when the heap is full or locked
#define MICROPY_EMERGENCY_EXCEPTION_BUF_SIZE    (256)   // a static buffer, as the unix port has
#define MICROPY_WARNINGS                        (1)     // e.g. "exception chaining not supported"
#define MICROPY_OPT_COMPUTED_GOTO               (0)     // the unix port has it; slower under QEMU TCG (README)
#define MICROPY_PY_SYS_EXC_INFO                 (1)     // sys.exc_info()
#define MICROPY_PY_GC_COLLECT_RETVAL            (1)     // gc.collect() returns how many objects it freed
#define MICROPY_REPL_EMACS_WORDS_MOVE           (1)     // Alt-B/Alt-F/Alt-D/Alt-Backspace
#define MICROPY_REPL_EMACS_EXTRA_WORDS_MOVE     (1)     // Ctrl-W, Ctrl-Left/Ctrl-Right
#define MICROPY_READLINE_HISTORY_SIZE           (50)    // up-arrow recall (default 8)
// From the level above, CPython behaviour for a few bytes of code each.
#define MICROPY_PY_ALL_INPLACE_SPECIAL_METHODS  (1)     // __imul__, __ior__, ... (not only += and -=)
#define MICROPY_PY_BUILTINS_MEMORYVIEW_ITEMSIZE (1)     // memoryview.itemsize
#define MICROPY_PY_COLLECTIONS_NAMEDTUPLE__ASDICT (1)   // namedtuple._asdict()
#define MICROPY_PY_MICROPYTHON_HEAP_LOCKED      (1)     // micropython.heap_locked(), for exit handlers

#define MICROPY_HW_BOARD_NAME                   "mpvisor"
#define MICROPY_HW_MCU_NAME                     "x86_64"

#define MP_SSIZE_MAX                            (0x7fffffffffffffff)
typedef intptr_t mp_int_t;
typedef uintptr_t mp_uint_t;
typedef long mp_off_t;

#define MICROPY_HAL_HAS_VT100                   (1)
#define MP_STATE_PORT                           MP_STATE_VM

// Interrupts stay enabled while waiting for input; the UART IRQ wakes HLT.
#define MICROPY_INTERNAL_WFE(TIMEOUT_MS)        __asm__ volatile ("sti; hlt")
