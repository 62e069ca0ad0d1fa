/* cc_time: the units of time, defined once for every daemon. Times in this
 * code base are int64_t microseconds (since the epoch, or monotonic) unless
 * a name ends in _ms or _s; convert with these, never with bare literals.
 * All are int64_t constants, so products do not overflow int. */
#ifndef CC_TIME_H
#define CC_TIME_H
#include <stdint.h>

#define CC_NS_PER_US   INT64_C(1000)
#define CC_US_PER_MS   INT64_C(1000)
#define CC_MS_PER_S    INT64_C(1000)
#define CC_US_PER_S    INT64_C(1000000)
#define CC_S_PER_MIN   INT64_C(60)
#define CC_S_PER_HOUR  INT64_C(3600)
#define CC_S_PER_DAY   INT64_C(86400)
#define CC_US_PER_MIN  (CC_S_PER_MIN * CC_US_PER_S)
#define CC_US_PER_HOUR (CC_S_PER_HOUR * CC_US_PER_S)
#define CC_US_PER_DAY  (CC_S_PER_DAY * CC_US_PER_S)

#endif
