/* PLACEHOLDER: being written */ typedef int fk_placeholder_fk_jwt_t;
