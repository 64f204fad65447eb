/* The backstay binary (also installed as chef-backend-ctl). */
#include <stdio.h>

#include "tools.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv, stdout, stderr);
}
