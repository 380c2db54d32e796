#include <stdio.h>
int main(void) { puts("streamlearn"); return 0; }
