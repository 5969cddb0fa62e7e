/* PLACEHOLDER: being written */ typedef int fk_placeholder_fk_manifest_t;
