# process.env is the environment of the process, values kept as written.
SPEC='config.md#process (env)'
DESC='env entries are set, values with spaces and "=" kept'
FILTER='.process.env = ["PATH=/bin", "CONF_A=one two", "CONF_B=x=y"]'
ARGS=(env)
EXPECT_LINES=('PATH=/bin' 'CONF_A=one two' 'CONF_B=x=y')
