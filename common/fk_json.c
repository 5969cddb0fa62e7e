/* PLACEHOLDER */ typedef int fk_placeholder_json_t;
