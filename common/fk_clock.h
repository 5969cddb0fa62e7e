/*  fk_clock - the two clocks fakts-node uses.

    Wall time (fk_clock_wall_ms) stamps anything that crosses process or
    machine boundaries: code and token expiry, JWT iat/exp. Monotonic time
    (fk_clock_mono_ms) measures intervals inside one process: timeouts,
    polling rates, deadlines. Both are thread-safe. */

#ifndef FK_CLOCK_H_INCLUDED
#define FK_CLOCK_H_INCLUDED

#include <stdint.h>

/*  Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t fk_clock_wall_ms(void);

/*  Milliseconds from an arbitrary fixed point (CLOCK_MONOTONIC). */
int64_t fk_clock_mono_ms(void);

/*  Microseconds on the same monotonic clock, for latencies (metrics). */
int64_t fk_clock_mono_us(void);

#endif
