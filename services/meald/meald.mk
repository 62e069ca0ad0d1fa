# meald links libvrp (services/solver) for its courier rounds (md_rounds.h).
$(eval $(call cc_daemon,meald,build/lib/libvrp.a))
