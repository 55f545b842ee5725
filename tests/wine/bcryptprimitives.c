/* Wine 8.0 lacks bcryptprimitives.dll, whose ProcessPrng both Go >= 1.24 and
   Rust's std (>= 1.78) import. This stand-in fills the buffer with
   RtlGenRandom (advapi32's SystemFunction036), which Wine has. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size) {
    while (size > 0) {
        ULONG n = size > 0x10000000 ? 0x10000000 : (ULONG)size;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n;
        size -= n;
    }
    return TRUE;
}
