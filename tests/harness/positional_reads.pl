# positional_reads.pl FILE...: prints every read of a result column by anything but its name,
# as FILE:LINE: ACCESSOR(..., COLUMN). A libpq accessor's or json_*'s column argument must be a
# db_col() call, or a variable or member assigned from db_col() in the same file (the column
# parameter of the accessors' own definitions aside). Calls are matched across lines and
# comments are ignored, so that neither `json_text(out, r, row, k)` in a loop over positions
# nor a call broken before its column argument goes unseen (layer.sh).
use strict;
use warnings;

my $acc = qr/\b(PQgetvalue|PQgetisnull|PQgetlength|PQfname|PQftype|db_value|json_text|json_number|json_bool)\s*\(/;
local $/;
for my $f (@ARGV) {
    open(my $fh, '<', $f) or die "$f: $!\n";
    my $src = <$fh>;
    close $fh;
    # Comments go, their line breaks stay, so that line numbers still hold.
    $src =~ s{/\*.*?\*/}{ my $c = $&; $c =~ s/[^\n]//g; $c }gse;
    $src =~ s{//[^\n]*}{}g;
    my %named;
    $named{$1} = 1 while $src =~ /(?:\.|\b)(\w+)\s*=\s*db_col\s*\(/g;
    $named{$2} = 1 while $src =~ /$acc[^()]*\bint\s+(\w+)\s*\)\s*\{/g;
    while ($src =~ /$acc((?:[^()]++|\((?2)\))*)\)/g) {
        my ($fn, $args, $start) = ($1, $2, $-[0]);
        my @a;
        my ($cur, $depth) = ('', 0);
        for my $ch (split //, $args) {
            if ($ch eq ',' && $depth == 0) { push @a, $cur; $cur = ''; next }
            $depth++ if $ch eq '(';
            $depth-- if $ch eq ')';
            $cur .= $ch;
        }
        push @a, $cur;
        (my $col = $a[-1]) =~ s/^\s+|\s+$//g;
        next if $col =~ /^db_col\s*\(/;
        next if $col =~ /^(?:const\s+)?\w+\s+\**\w+$/;    # a parameter in a declaration
        (my $id = $col) =~ s/^.*(?:\.|->)//;
        next if $id =~ /^\w+$/ && $named{$id};
        my $line = 1 + (() = substr($src, 0, $start) =~ /\n/g);
        $col =~ s/\s+/ /g;
        print "$f:$line: $fn(..., $col)\n";
    }
}
