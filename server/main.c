/* main.c — placeholder entry point (being written). */
#include <stdio.h>
int main(void)
{
        puts("kplane");
        return 0;
}
