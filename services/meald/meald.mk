$(eval $(call cc_daemon,meald,))
