file(REMOVE_RECURSE
  "libqwickcore.a"
)
