// The text help() prints at the REPL (MicroPython's builtin help, through
// MICROPY_PY_BUILTINS_HELP_TEXT): where to start. Data only; the hypervisor's
// API is printed by hv.help() (py/hv/help.py).
const char mpvisor_help_text[] =
    "mpvisor: a hypervisor whose policy is Python.\n"
    "\n"
    "  import hv            the hypervisor; hv.help() lists its API\n"
    "  hv.boot('demo')      boot the demo guest (hv.images(): what else)\n"
    "  import hw            privileged instructions and physical memory\n"
    "  help(obj)            the names in obj; help('modules'): all modules\n"
    "\n"
    "Control commands:\n"
    "  CTRL-A        -- on a blank line, enter raw REPL mode\n"
    "  CTRL-B        -- on a blank line, enter normal REPL mode\n"
    "  CTRL-C        -- interrupt a running program or guest\n"
    "  CTRL-D        -- on a blank line, do a soft reset\n"
    "  CTRL-E        -- on a blank line, enter paste mode\n"
    "\n"
    "docs/tutorial.md in the source tree walks through a first session.\n"
;
