# Builds selfalign_doc_blocks (the C++ blocks of README.md and docs/*.md) and explains a failure.
execute_process(COMMAND ${CMAKE_COMMAND} --build "${BUILD_DIR}" --target selfalign_doc_blocks
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  execute_process(COMMAND ${CMAKE_COMMAND} -E echo
"A C++ block in README.md or docs/ does not compile. The compiler's messages above name it as
docs/FILE.md:LINE (or README.md:LINE): the line inside the Markdown file. Either make the block
complete (its own #include lines, selfalign:: qualified names, a declaration of everything it
uses, no '...' placeholders; the blocks of one file share a namespace, so a main() there needs
an explicit return) or, if it is an excerpt not meant to compile alone, mark it as a fragment by
opening it with
    \`\`\`cpp fragment
instead of \`\`\`cpp.")
  message(FATAL_ERROR "docs-compile failed")
endif()
