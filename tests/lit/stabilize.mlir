// RUN: stabilize

// log(1 + x) -> log1p(x), either operand order; exp(x) - 1 and exp(x) + -1 -> expm1(x)
// CHECK-LABEL: func.func @log1p_expm1
// CHECK: [[A:%\d+]] = "tir.log1p"(%arg0)
// CHECK: [[B:%\d+]] = "tir.expm1"(%arg0)
// CHECK: [[C:%\d+]] = "tir.expm1"(%arg0)
// CHECK-NOT: "tir.log"(
// CHECK: "func.return"([[A]], [[B]], [[C]])
func.func @log1p_expm1(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.constant"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %1 = "tir.add"(%arg0, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.log"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  %3 = "tir.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.sub"(%3, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %5 = "tir.constant"() {value = dense<-1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %6 = "tir.add"(%5, %3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%2, %4, %6) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// log(1 - x) -> log1p(-x), but log(1 - sigmoid(z)) is left to become a softplus.
// CHECK-LABEL: func.func @log1m
// CHECK: [[N:%\d+]] = "tir.neg"(%arg0)
// CHECK-NEXT: [[L:%\d+]] = "tir.log1p"([[N]])
// CHECK: "tir.abs"
// CHECK: "tir.max"
// CHECK-NOT: "tir.div"
// CHECK: "func.return"([[L]]
func.func @log1m(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.constant"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %1 = "tir.sub"(%0, %arg0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.log"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  %3 = "tir.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.add"(%0, %3) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %5 = "tir.div"(%0, %4) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %6 = "tir.sub"(%0, %5) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %7 = "tir.log"(%6) : (tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%2, %7) : (tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// log(2 + x) and exp(x) - 2 are left alone.
// CHECK-LABEL: func.func @not_one
// CHECK: "tir.log"
// CHECK: "tir.sub"
// CHECK-NOT: "tir.log1p"
// CHECK-NOT: "tir.expm1"
func.func @not_one(%arg0: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = "tir.constant"() {value = dense<2.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %1 = "tir.add"(%arg0, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = "tir.log"(%1) : (tensor<4xf32>) -> tensor<4xf32>
  %3 = "tir.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %4 = "tir.sub"(%3, %0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%2, %4) : (tensor<4xf32>, tensor<4xf32>) -> ()
}

// -----

// log(sum(exp(x))) over an axis: subtract the row max (0 where it is not finite) and add it back.
// CHECK-LABEL: func.func @logsumexp
// CHECK: [[M:%\d+]] = "tir.reduce_max"(%arg0) {axes = [1]}
// CHECK-NEXT: [[F:%\d+]] = "tir.isfinite"([[M]])
// CHECK-NEXT: [[Z:%\d+]] = "tir.constant"() {value = dense<0.0> : tensor<2xf64>}
// CHECK-NEXT: [[S:%\d+]] = "tir.select"([[F]], [[M]], [[Z]])
// CHECK-NEXT: [[B:%\d+]] = "tir.broadcast"([[S]]) {shape = [2, 3], dims = [0]}
// CHECK-NEXT: [[D:%\d+]] = "tir.sub"(%arg0, [[B]])
// CHECK-NEXT: [[E:%\d+]] = "tir.exp"([[D]])
// CHECK-NEXT: [[T:%\d+]] = "tir.reduce_sum"([[E]]) {axes = [1]}
// CHECK-NEXT: [[L:%\d+]] = "tir.log"([[T]])
// CHECK-NEXT: [[R:%\d+]] = "tir.add"([[S]], [[L]])
// CHECK-NEXT: "func.return"([[R]])
func.func @logsumexp(%arg0: tensor<2x3xf64>) -> tensor<2xf64> {
  %0 = "tir.exp"(%arg0) : (tensor<2x3xf64>) -> tensor<2x3xf64>
  %1 = "tir.reduce_sum"(%0) {axes = [1]} : (tensor<2x3xf64>) -> tensor<2xf64>
  %2 = "tir.log"(%1) : (tensor<2xf64>) -> tensor<2xf64>
  "func.return"(%2) : (tensor<2xf64>) -> ()
}

// -----

// A sum over an empty axis has no max to subtract: log(sum(exp(x))) is log(0) = -inf as written.
// CHECK-LABEL: func.func @logsumexp_empty
// CHECK-NOT: "tir.reduce_max"
func.func @logsumexp_empty(%arg0: tensor<2x0xf32>) -> tensor<2xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<2x0xf32>) -> tensor<2x0xf32>
  %1 = "tir.reduce_sum"(%0) {axes = [1]} : (tensor<2x0xf32>) -> tensor<2xf32>
  %2 = "tir.log"(%1) : (tensor<2xf32>) -> tensor<2xf32>
  "func.return"(%2) : (tensor<2xf32>) -> ()
}

// -----

// softmax over all axes of a vector
// CHECK-LABEL: func.func @softmax_vector
// CHECK: [[M:%\d+]] = "tir.reduce_max"(%arg0) {axes = [0]}
// CHECK: [[B:%\d+]] = "tir.broadcast"({{%\d+}}) {shape = [5], dims = []}
// CHECK-NEXT: [[D:%\d+]] = "tir.sub"(%arg0, [[B]])
// CHECK-NEXT: [[E:%\d+]] = "tir.exp"([[D]])
// CHECK-NEXT: [[T:%\d+]] = "tir.reduce_sum"([[E]]) {axes = [0]}
// CHECK-NEXT: [[S:%\d+]] = "tir.broadcast"([[T]]) {shape = [5], dims = []}
// CHECK-NEXT: [[R:%\d+]] = "tir.div"([[E]], [[S]])
// CHECK-NEXT: "func.return"([[R]])
func.func @softmax_vector(%arg0: tensor<5xf32>) -> tensor<5xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<5xf32>) -> tensor<5xf32>
  %1 = "tir.reduce_sum"(%0) {axes = [0]} : (tensor<5xf32>) -> tensor<f32>
  %2 = "tir.broadcast"(%1) {shape = [5], dims = []} : (tensor<f32>) -> tensor<5xf32>
  %3 = "tir.div"(%0, %2) : (tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
  "func.return"(%3) : (tensor<5xf32>) -> ()
}

// -----

// The sum must be spread back over the axes it reduced: dividing by a sum over axis 0 spread
// along axis 1 is not a softmax.
// CHECK-LABEL: func.func @not_softmax
// CHECK-NOT: "tir.reduce_max"
func.func @not_softmax(%arg0: tensor<3x3xf32>) -> tensor<3x3xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<3x3xf32>) -> tensor<3x3xf32>
  %1 = "tir.reduce_sum"(%0) {axes = [0]} : (tensor<3x3xf32>) -> tensor<3xf32>
  %2 = "tir.broadcast"(%1) {shape = [3, 3], dims = [0]} : (tensor<3xf32>) -> tensor<3x3xf32>
  %3 = "tir.div"(%0, %2) : (tensor<3x3xf32>, tensor<3x3xf32>) -> tensor<3x3xf32>
  "func.return"(%3) : (tensor<3x3xf32>) -> ()
}

// -----

// Already shifted by the max, as users write stable softmax and logsumexp: nothing to do.
// CHECK-LABEL: func.func @user_stable
// CHECK: "tir.reduce_max"
// CHECK-NOT: "tir.reduce_max"
// CHECK-NOT: "tir.isfinite"
func.func @user_stable(%arg0: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2xf32>) {
  %0 = "tir.reduce_max"(%arg0) {axes = [1]} : (tensor<2x3xf32>) -> tensor<2xf32>
  %1 = "tir.broadcast"(%0) {shape = [2, 3], dims = [0]} : (tensor<2xf32>) -> tensor<2x3xf32>
  %2 = "tir.sub"(%arg0, %1) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %3 = "tir.exp"(%2) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %4 = "tir.reduce_sum"(%3) {axes = [1]} : (tensor<2x3xf32>) -> tensor<2xf32>
  %5 = "tir.broadcast"(%4) {shape = [2, 3], dims = [0]} : (tensor<2xf32>) -> tensor<2x3xf32>
  %6 = "tir.div"(%3, %5) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %7 = "tir.log"(%4) : (tensor<2xf32>) -> tensor<2xf32>
  "func.return"(%6, %7) : (tensor<2x3xf32>, tensor<2xf32>) -> ()
}

// -----

// log1p(exp(x)) -> max(x, 0) + log1p(exp(-|x|)), whose own log1p(exp(.)) is not expanded again
// CHECK-LABEL: func.func @softplus
// CHECK: [[A:%\d+]] = "tir.abs"(%arg0)
// CHECK-NEXT: [[N:%\d+]] = "tir.neg"([[A]])
// CHECK-NEXT: [[E:%\d+]] = "tir.exp"([[N]])
// CHECK-NEXT: [[L:%\d+]] = "tir.log1p"([[E]])
// CHECK-NEXT: [[Z:%\d+]] = "tir.constant"() {value = dense<0.0> : tensor<4xf32>}
// CHECK-NEXT: [[M:%\d+]] = "tir.max"(%arg0, [[Z]])
// CHECK-NEXT: [[R:%\d+]] = "tir.add"([[M]], [[L]])
// CHECK-NEXT: "func.return"([[R]])
func.func @softplus(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "tir.log1p"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  "func.return"(%1) : (tensor<4xf32>) -> ()
}

// -----

// A dynamic number of rows: a broadcast cannot spread the max back (its shape attribute is
// static), so logsumexp stays as written rather than fail.
// CHECK-LABEL: func.func @logsumexp_dynamic
// CHECK-NOT: "tir.reduce_max"
// CHECK: "tir.log"
func.func @logsumexp_dynamic(%arg0: tensor<?x3xf32>) -> tensor<?xf32> {
  %0 = "tir.exp"(%arg0) : (tensor<?x3xf32>) -> tensor<?x3xf32>
  %1 = "tir.reduce_sum"(%0) {axes = [1]} : (tensor<?x3xf32>) -> tensor<?xf32>
  %2 = "tir.log"(%1) : (tensor<?xf32>) -> tensor<?xf32>
  "func.return"(%2) : (tensor<?xf32>) -> ()
}
