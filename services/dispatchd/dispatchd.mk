$(eval $(call cc_daemon,dispatchd,))
