/* PLACEHOLDER: being written */ typedef int fk_placeholder_fk_record_t;
