# process.oomScoreAdj is written to the process's oom_score_adj.
SPEC='config.md#linux-process (oomScoreAdj)'
DESC='oom_score_adj is 123'
FILTER='.process.oomScoreAdj = 123'
ARGS=(cat /proc/self/oom_score_adj)
EXPECT_OUT=123
