// Exceptions raised by the natives whose args are (message, field1, ...):
// they print as "Type: message" and expose the fields by name (hw.CPUFault,
// vmx.VMXFail). Implemented in port/modhw.c.
#ifndef MPVISOR_MESSAGE_EXCEPTION_H
#define MPVISOR_MESSAGE_EXCEPTION_H
#include "py/obj.h"

void message_exception_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind);
// For an attr slot: dest[0] = args[i + 1] when attr is fields[i], else the
// ordinary exception attributes.
void message_exception_attr(mp_obj_t self_in, qstr attr, mp_obj_t *dest,
    const qstr *fields, size_t n_fields);
#endif
