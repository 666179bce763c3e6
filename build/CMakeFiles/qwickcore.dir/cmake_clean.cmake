file(REMOVE_RECURSE
  "CMakeFiles/qwickcore.dir/src/base/error.c.o"
  "CMakeFiles/qwickcore.dir/src/base/error.c.o.d"
  "CMakeFiles/qwickcore.dir/src/base/file.c.o"
  "CMakeFiles/qwickcore.dir/src/base/file.c.o.d"
  "CMakeFiles/qwickcore.dir/src/base/memory.c.o"
  "CMakeFiles/qwickcore.dir/src/base/memory.c.o.d"
  "CMakeFiles/qwickcore.dir/src/base/misc.c.o"
  "CMakeFiles/qwickcore.dir/src/base/misc.c.o.d"
  "CMakeFiles/qwickcore.dir/src/tensor/tensor.c.o"
  "CMakeFiles/qwickcore.dir/src/tensor/tensor.c.o.d"
  "libqwickcore.a"
  "libqwickcore.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/qwickcore.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
