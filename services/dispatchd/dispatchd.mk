$(eval $(call cc_daemon,dispatchd,build/lib/libvrp.a))
