-- STOP / BAJA / UNSUBSCRIBE / CANCELAR: the person behind these leads is not contacted again.
UPDATE leads SET do_not_contact = true WHERE id = ANY(:ids) AND NOT do_not_contact
