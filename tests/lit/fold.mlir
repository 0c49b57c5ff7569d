// RUN: fold

// Splat constants fold on their single element, whatever the shape.
// CHECK-LABEL: func.func @splat
// CHECK: "tir.constant"() {value = dense<4.0> : tensor<4096x4096xf32>}
// CHECK-NEXT: "func.return"
func.func @splat() -> tensor<4096x4096xf32> {
  %0 = "tir.constant"() {value = dense<1.0> : tensor<4096x4096xf32>} : () -> tensor<4096x4096xf32>
  %1 = "tir.constant"() {value = dense<3.0> : tensor<4096x4096xf32>} : () -> tensor<4096x4096xf32>
  %2 = "tir.add"(%0, %1) : (tensor<4096x4096xf32>, tensor<4096x4096xf32>) -> tensor<4096x4096xf32>
  "func.return"(%2) : (tensor<4096x4096xf32>) -> ()
}

// -----

// Movement ops of a splat are the splat in the new shape; chains fold all the way.
// CHECK-LABEL: func.func @splat_movement
// CHECK: "tir.constant"() {value = dense<7> : tensor<2x4096x3xi32>}
// CHECK-NEXT: "func.return"
func.func @splat_movement() -> tensor<2x4096x3xi32> {
  %0 = "tir.constant"() {value = dense<7> : tensor<3x4096xi32>} : () -> tensor<3x4096xi32>
  %1 = "tir.transpose"(%0) {perm = [1, 0]} : (tensor<3x4096xi32>) -> tensor<4096x3xi32>
  %2 = "tir.broadcast"(%1) {shape = [2, 4096, 3], dims = [1, 2]} : (tensor<4096x3xi32>) -> tensor<2x4096x3xi32>
  "func.return"(%2) : (tensor<2x4096x3xi32>) -> ()
}

// -----

// Non-splat constants fold with numpy's semantics: integer wrap-around, NaN, -0.0.
// CHECK-LABEL: func.func @dense
// CHECK: "tir.constant"() {value = dense<[-128, 0, 127]> : tensor<3xi8>}
// CHECK: "tir.constant"() {value = dense<[{{0x[7F]FC00000}}, -0.0, 0x7F800000]> : tensor<3xf32>}
func.func @dense() -> (tensor<3xi8>, tensor<3xf32>) {
  %0 = "tir.constant"() {value = dense<[127, -1, 126]> : tensor<3xi8>} : () -> tensor<3xi8>
  %1 = "tir.constant"() {value = dense<1> : tensor<3xi8>} : () -> tensor<3xi8>
  %2 = "tir.add"(%0, %1) : (tensor<3xi8>, tensor<3xi8>) -> tensor<3xi8>
  %3 = "tir.constant"() {value = dense<[0.0, -1.0, 1.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %4 = "tir.constant"() {value = dense<[0.0, 0x7F800000, 0.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %5 = "tir.div"(%3, %4) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  "func.return"(%2, %5) : (tensor<3xi8>, tensor<3xf32>) -> ()
}

// -----

// Reductions and matmul of small constants fold; a reduction of a big splat does not
// (folding it would materialize 16M elements).
// CHECK-LABEL: func.func @reductions
// CHECK: "tir.constant"() {value = dense<[3.0, 7.0]> : tensor<2xf64>}
// CHECK: "tir.reduce_sum"
func.func @reductions() -> (tensor<2xf64>, tensor<4096xf32>) {
  %0 = "tir.constant"() {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf64>} : () -> tensor<2x2xf64>
  %1 = "tir.reduce_sum"(%0) {axes = [1]} : (tensor<2x2xf64>) -> tensor<2xf64>
  %2 = "tir.constant"() {value = dense<1.0> : tensor<4096x4096xf32>} : () -> tensor<4096x4096xf32>
  %3 = "tir.reduce_sum"(%2) {axes = [0]} : (tensor<4096x4096xf32>) -> tensor<4096xf32>
  "func.return"(%1, %3) : (tensor<2xf64>, tensor<4096xf32>) -> ()
}

// -----

// An out-of-bounds gather stays, to raise its IndexError at run time; ops on arguments stay.
// CHECK-LABEL: func.func @not_folded
// CHECK: "tir.gather"
// CHECK: "tir.add"(%arg0, {{%\d+}})
func.func @not_folded(%arg0: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %0 = "tir.constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %1 = "tir.constant"() {value = dense<[0, 5]> : tensor<2xi64>} : () -> tensor<2xi64>
  %2 = "tir.gather"(%0, %1) {axis = 0} : (tensor<3xf32>, tensor<2xi64>) -> tensor<2xf32>
  %3 = "tir.constant"() {value = dense<1.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %4 = "tir.add"(%arg0, %3) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  "func.return"(%2, %4) : (tensor<2xf32>, tensor<2xf32>) -> ()
}

// -----

// Casts and comparisons fold too; iota (no operands) is left to compute.
// CHECK-LABEL: func.func @casts
// CHECK: "tir.iota"
// CHECK: "tir.constant"() {value = dense<[true, false]> : tensor<2xi1>}
// CHECK: "tir.constant"() {value = dense<[-2, 3]> : tensor<2xi32>}
func.func @casts() -> (tensor<4xi32>, tensor<2xi1>, tensor<2xi32>) {
  %0 = "tir.iota"() {shape = [4], dtype = i32, dim = 0} : () -> tensor<4xi32>
  %1 = "tir.constant"() {value = dense<[-2.5, 3.75]> : tensor<2xf32>} : () -> tensor<2xf32>
  %2 = "tir.constant"() {value = dense<0.0> : tensor<2xf32>} : () -> tensor<2xf32>
  %3 = "tir.lt"(%1, %2) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xi1>
  %4 = "tir.cast"(%1) {dtype = i32} : (tensor<2xf32>) -> tensor<2xi32>
  "func.return"(%0, %3, %4) : (tensor<4xi32>, tensor<2xi1>, tensor<2xi32>) -> ()
}
