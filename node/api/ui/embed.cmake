# Turn the web pages' files into a C source (cmake -P), so the binary serves
# them with no file on disk and no tool beyond CMake (no xxd).
#
#   cmake -DDIR=<node/api/ui> -DFILES=a.html,b.css,... -DOUT=<file.c> -P embed.cmake
#
# Each file becomes a byte array followed by a NUL (templates are then C
# strings too) and one row of fk__ui_assets (fk_api_priv.h).
string(REPLACE "," ";" files "${FILES}")
set(arrays "")
set(rows "")
set(index 0)
foreach(name IN LISTS files)
    file(READ "${DIR}/${name}" hex HEX)
    string(LENGTH "${hex}" digits)
    math(EXPR size "${digits} / 2")
    # 32 bytes a line (CMake's regular expressions have no {n} to do this).
    string(APPEND arrays "static const unsigned char s_asset_${index}[] = {\n")
    set(offset 0)
    while(offset LESS digits)
        string(SUBSTRING "${hex}" ${offset} 64 chunk)
        string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," chunk "${chunk}")
        string(APPEND arrays "    ${chunk}\n")
        math(EXPR offset "${offset} + 64")
    endwhile()
    string(APPEND arrays "    0x00};\n\n")
    string(APPEND rows "    {\"${name}\", s_asset_${index}, ${size}},\n")
    math(EXPR index "${index} + 1")
endforeach()
set(text "/* Generated from node/api/ui/ by node/api/ui/embed.cmake: do not edit. */\n\n")
string(APPEND text "#include \"fk_api_priv.h\"\n\n${arrays}")
string(APPEND text "const fk__ui_asset_t fk__ui_assets[] = {\n${rows}    {NULL, NULL, 0},\n};\n")
file(WRITE "${OUT}.tmp" "${text}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
