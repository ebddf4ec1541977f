# process.capabilities for a root process: the bounding, permitted and
# effective sets hold exactly the configured capabilities. (For uid 0 the
# kernel recomputes permitted and effective from the bounding set at execve,
# so this mostly tests bounding; capabilities-ambient covers the other sets.)
SPEC='config.md#linux-process (capabilities)'
DESC='CapBnd, CapPrm, CapEff equal the configured set (uid 0)'
caps=(CAP_CHOWN CAP_FOWNER CAP_NET_RAW CAP_SYS_CHROOT CAP_SYS_ADMIN CAP_SETFCAP)
caps_json=$(jq -cn '$ARGS.positional' --args "${caps[@]}")
FILTER=".process.capabilities = {bounding: $caps_json, permitted: $caps_json, effective: $caps_json}"
ARGS=(cat /proc/self/status)
mask=$(cap_mask "${caps[@]}")
EXPECT_LINES=($'CapBnd:\t'"$mask" $'CapPrm:\t'"$mask" $'CapEff:\t'"$mask")
