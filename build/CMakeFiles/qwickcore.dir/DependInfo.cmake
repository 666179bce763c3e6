
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/src/base/error.c" "CMakeFiles/qwickcore.dir/src/base/error.c.o" "gcc" "CMakeFiles/qwickcore.dir/src/base/error.c.o.d"
  "/work/main/src/base/file.c" "CMakeFiles/qwickcore.dir/src/base/file.c.o" "gcc" "CMakeFiles/qwickcore.dir/src/base/file.c.o.d"
  "/work/main/src/base/memory.c" "CMakeFiles/qwickcore.dir/src/base/memory.c.o" "gcc" "CMakeFiles/qwickcore.dir/src/base/memory.c.o.d"
  "/work/main/src/base/misc.c" "CMakeFiles/qwickcore.dir/src/base/misc.c.o" "gcc" "CMakeFiles/qwickcore.dir/src/base/misc.c.o.d"
  "/work/main/src/tensor/tensor.c" "CMakeFiles/qwickcore.dir/src/tensor/tensor.c.o" "gcc" "CMakeFiles/qwickcore.dir/src/tensor/tensor.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
