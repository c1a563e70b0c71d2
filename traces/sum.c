/* sum.c: fill an array, then add it up */
int a[256];
int main(void) {
    int s = 0;
    for (int i = 0; i < 256; i++) a[i] = i;
    for (int i = 0; i < 256; i++) s += a[i];
    return s & 1;
}
