# domainname is set in the container's UTS namespace.
SPEC='config.md#domainname'
DESC='NIS domain name is set'
FILTER='.domainname = "conformance.example"'
ARGS=(cat /proc/sys/kernel/domainname)
EXPECT_OUT=conformance.example

# runc 1.1 predates support for "domainname" (it came in runc 1.2): it ignores
# the field and the container keeps the default "(none)". That is runc's
# gap, not the case's, so runc is skipped here.
SKIP_ON=runc
SKIP_REASON='runc 1.1 ignores domainname (supported from runc 1.2)'
