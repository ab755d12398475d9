/*
 * Stand-ins for a broken new core (t_upgrade): started by the monitor as
 * "BINARY --upgrade", this one crashes (built as upgrade-crash) or never
 * answers (upgrade-hang).  The old core must go on either way.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	(void)argc;
	if (strstr(argv[0], "crash") != NULL)
		raise(SIGSEGV);
	/* sleep, not pause: the monitor's filter, which it runs under, has
	 * no pause. */
	for (;;)
		sleep(1000);
}
