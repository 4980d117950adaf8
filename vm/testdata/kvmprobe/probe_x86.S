	.text
	.code16
	.globl _start
_start:
start16:
	cli
	lgdtl %cs:gdtr
	mov %cr0, %eax
	or $1, %eax
	mov %eax, %cr0
	ljmpl $0x08, $(0xF0000 + start32)

	.code32
start32:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	cld
	mov $0x1000, %edi
	mov $(3*1024), %ecx
	xor %eax, %eax
	rep stosl
	movl $0x2003, 0x1000
	movl $0x3003, 0x2000
	movl $0x83, 0x3000
	mov %cr4, %eax
	or $0x20, %eax
	mov %eax, %cr4
	mov $0x1000, %eax
	mov %eax, %cr3
	mov $0xC0000080, %ecx
	rdmsr
	or $0x100, %eax
	wrmsr
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	ljmp $0x18, $(0xF0000 + start64)

	.code64
start64:
	movabs $0x3100000000, %rax
	shr $32, %rax
	out %al, $0xf4
1:	hlt
	jmp 1b

	.p2align 3
gdt:
	.quad 0
	.quad 0x00CF9A000000FFFF
	.quad 0x00CF92000000FFFF
	.quad 0x00AF9A000000FFFF
gdt_end:
gdtr:
	.word gdt_end - gdt - 1
	.long 0xF0000 + gdt
code_end:

	.org 0xFFF0, 0xf4
	.code16
reset:
	ljmp $0xF000, $start16
	.org 0x10000, 0xf4
