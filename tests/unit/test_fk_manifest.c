/* PLACEHOLDER: being written */ typedef int fk_placeholder_test_fk_manifest_t;
