$(eval $(call cc_daemon,orderd,))
