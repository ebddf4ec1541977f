# process.args reach execve unchanged: no word splitting, empty args kept.
SPEC='config.md#process (args)'
DESC='args are passed verbatim, including spaces and empty strings'
ARGS=(sh -c 'printf "[%s]\n" "$0" "$@"' zero 'a b' '' 'c*')
EXPECT_OUT='[zero]
[a b]
[]
[c*]'
