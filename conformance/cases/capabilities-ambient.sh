# process.capabilities for a non-root process: only the ambient set carries
# capabilities across execve for a uid other than 0, so CapEff equal to the
# configured set shows that ambient, inheritable, permitted and effective were
# all set (the kernel requires ambient to be a subset of permitted and
# inheritable), and CapBnd shows the bounding set.
SPEC='config.md#linux-process (capabilities)'
DESC='all five sets for uid 1000: CapAmb, CapEff, CapBnd equal the set'
caps=(CAP_KILL CAP_NET_BIND_SERVICE CAP_SYS_TIME)
caps_json=$(jq -cn '$ARGS.positional' --args "${caps[@]}")
FILTER=".process.user = {uid: 1000, gid: 1000}
    | .process.capabilities = {bounding: $caps_json, permitted: $caps_json,
        effective: $caps_json, inheritable: $caps_json, ambient: $caps_json}"
ARGS=(cat /proc/self/status)
mask=$(cap_mask "${caps[@]}")
EXPECT_LINES=($'CapAmb:\t'"$mask" $'CapEff:\t'"$mask" $'CapPrm:\t'"$mask" $'CapBnd:\t'"$mask")
