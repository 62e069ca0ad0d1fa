$(eval $(call cc_daemon,billingd,))
